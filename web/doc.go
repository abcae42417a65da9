// Package web embeds the live page served at /: one HTML file with its CSS and plain
// JavaScript inline (no build step, no CDN), which runs a simulation over
// /ws/simulation_live and draws every streamed state with the colour map of package
// render. Handler is safe for concurrent use.
package web
