// Package nprand reproduces numpy's default_rng(seed) bit for bit: SeedSequence, PCG64,
// the buffered 32-bit draws and the distributions the reference uses. A Generator is not
// safe for concurrent use.
package nprand

// Generator is numpy's Generator(PCG64(SeedSequence(seed))).
type Generator struct{}

// New returns the generator numpy's default_rng(seed) returns.
func New(seed uint64) *Generator { panic("nprand: TODO") }

// Uint64 is PCG64's next64.
func (g *Generator) Uint64() uint64 { panic("nprand: TODO") }

// Uint32 is PCG64's buffered next32.
func (g *Generator) Uint32() uint32 { panic("nprand: TODO") }

// Random is rng.random(): a double in [0, 1).
func (g *Generator) Random() float64 { panic("nprand: TODO") }

// Uniform is rng.uniform(lo, hi).
func (g *Generator) Uniform(lo, hi float64) float64 { panic("nprand: TODO") }

// StandardNormal is numpy's ziggurat standard normal.
func (g *Generator) StandardNormal() float64 { panic("nprand: TODO") }

// Normal is rng.normal(loc, scale).
func (g *Generator) Normal(loc, scale float64) float64 { panic("nprand: TODO") }

// Integers is rng.integers(lo, hi): a value in [lo, hi).
func (g *Generator) Integers(lo, hi int64) int64 { panic("nprand: TODO") }

// Choice is rng.choice(n, size=m, replace=replace).
func (g *Generator) Choice(n, m int, replace bool) []int { panic("nprand: TODO") }
