// Package render draws potential fields as PNG images and runs as animated GIFs.
package render
