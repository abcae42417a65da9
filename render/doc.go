// Package render draws potential fields as PNG images and runs as animated GIFs, and
// encodes fields for NumPy: .npy (WriteNPY) and .npz (WriteNPZ, a stored zip of .npy
// members, as np.savez writes it), read back by np.load value for value.
//
// Fields are N×N row-major slices of potentials in volts, as package sim produces them.
// Colours come from one perceptual colour map (viridis, ColorMap) over a Range in
// millivolts that the caller picks once for a whole run and that never adapts to a frame,
// so that two frames or two runs compare by eye: the same colour is always the same
// potential. FullRange is the simulation's clamp range (−95…+40 mV); DetailRange
// (−71…−68 mV) is where real runs live, so spikes and their diffusion show. Potentials
// outside the Range clamp to its end colours. Scaling is nearest neighbour, so every cell
// stays a sharp square.
//
// The package uses only the standard library. Its functions are pure; a *GIF is not safe
// for concurrent use.
package render
