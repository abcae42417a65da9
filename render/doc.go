// Package render draws potential fields as PNG images and runs as animated GIFs.
//
// Fields are N×N row-major slices of potentials in volts, as package sim produces them.
// Colours come from one perceptual colour map (viridis, ColorMap) over a FIXED range of
// MinMV..MaxMV millivolts, the clamp range of the simulation, so that two frames or two
// runs compare by eye: the same colour is always the same potential. Scaling is nearest
// neighbour, so every cell stays a sharp square.
//
// The package uses only the standard library. Its functions are pure; a *GIF is not safe
// for concurrent use.
package render
