// Package nernst computes equilibrium membrane potentials.
package nernst

// Potential is compute_nernst_potential(z, cOut, cIn, T): volts, lenient clamp at 1e-6 M.
func Potential(z int, cOutMolar, cInMolar, temperatureK float64) float64 { panic("nernst: TODO") }
