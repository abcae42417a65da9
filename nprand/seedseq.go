package nprand

// SeedSequence constants (numpy/random/bit_generator.pyx).
const (
	ssInitA    uint32 = 0x43b0d7e5
	ssMultA    uint32 = 0x931e8875
	ssInitB    uint32 = 0x8b51f9dd
	ssMultB    uint32 = 0x58f38ded
	ssMixMultL uint32 = 0xca01f9dd
	ssMixMultR uint32 = 0x4973f715
	ssPoolSize        = 4
)

// seedSequence is numpy's SeedSequence(entropy).generate_state(4, uint64) for entropy
// given as little-endian 32-bit words (no spawn key). All arithmetic wraps at 2^32.
func seedSequence(entropy []uint32) [4]uint64 {
	// The hash constant persists across every hashmix call of the mixing phase.
	h := ssInitA
	hashmix := func(v uint32) uint32 {
		v ^= h
		h *= ssMultA
		v *= h
		v ^= v >> 16
		return v
	}
	mix := func(x, y uint32) uint32 {
		r := ssMixMultL*x - ssMixMultR*y
		return r ^ r>>16
	}
	var pool [ssPoolSize]uint32
	for i := range pool {
		var w uint32
		if i < len(entropy) {
			w = entropy[i]
		}
		pool[i] = hashmix(w)
	}
	for src := range pool {
		for dst := range pool {
			if src != dst {
				pool[dst] = mix(pool[dst], hashmix(pool[src]))
			}
		}
	}
	for i := ssPoolSize; i < len(entropy); i++ {
		for dst := range pool {
			pool[dst] = mix(pool[dst], hashmix(entropy[i]))
		}
	}
	var out [2 * 4]uint32
	h2 := ssInitB
	for i := range out {
		v := pool[i%ssPoolSize]
		v ^= h2
		h2 *= ssMultB
		v *= h2
		v ^= v >> 16
		out[i] = v
	}
	var w [4]uint64
	for k := range w {
		w[k] = uint64(out[2*k]) | uint64(out[2*k+1])<<32
	}
	return w
}
