// Package nernst computes Nernst equilibrium membrane potentials from an ion's valence z,
// its outside and inside concentrations (mol/L) and the temperature (K). Potentials are
// returned in volts; the *MV helpers and RTFZMV are in millivolts.
//
// Potential is the reference's lenient function (concentrations clamped at 1e-6 M, no
// other checks), kept operation for operation so that results match the reference bit
// for bit. Validated adds the reference MembraneEngine's strict rules and reports a
// broken one as a *ParamError naming the argument. Symbolic reproduces the reference's
// sympy cross-check.
//
// All functions are pure and safe for concurrent use.
package nernst
