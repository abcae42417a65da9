package render

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ErrArray reports an array whose data does not fill its shape, or a bad npz member.
var ErrArray = errors.New("render: invalid array")

// Array is one NumPy array for WriteNPY/WriteNPZ: Float64 or Int64 data (exactly one is
// set) in C order with the given shape.
type Array struct {
	Name    string // npz member name without ".npy"; ignored by WriteNPY
	Shape   []int
	Float64 []float64 // written as '<f8'
	Int64   []int64   // written as '<i8'
}

func (a Array) check() error {
	if len(a.Shape) > maxDims {
		return fmt.Errorf("%w: %q: %d dimensions, over numpy's %d", ErrArray, a.Name, len(a.Shape), maxDims)
	}
	n := 1
	for _, d := range a.Shape {
		if d < 0 {
			return fmt.Errorf("%w: negative dimension in shape %v", ErrArray, a.Shape)
		}
		// A product that wrapped could match the data's length (even 0) and write a
		// header for an array that is not there.
		if d > 0 && n > math.MaxInt/d {
			return fmt.Errorf("%w: %q: shape %v has more elements than an int holds", ErrArray, a.Name, a.Shape)
		}
		n *= d
	}
	if (a.Float64 == nil) == (a.Int64 == nil) && n > 0 {
		return fmt.Errorf("%w: %q: exactly one of Float64 and Int64 must be set", ErrArray, a.Name)
	}
	if got := len(a.Float64) + len(a.Int64); got != n {
		return fmt.Errorf("%w: %q: %d values for shape %v", ErrArray, a.Name, got, a.Shape)
	}
	return nil
}

// maxDims is numpy's NPY_MAXDIMS (numpy 2). It also keeps the header dict (at most
// about 22 bytes per dimension) far below the 64 KiB its uint16 length can say.
const maxDims = 64

// npyHeader is the .npy version 1.0 header: magic, version, little-endian header length,
// then the dict numpy writes (its own key order and tuple repr), padded with spaces and a
// newline so that the data starts on a 64-byte boundary, as numpy ≥ 1.9 aligns it.
func npyHeader(descr string, shape []int) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	tuple += ")"
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple)
	const pre = 10 // magic (6) + version (2) + header length (2)
	total := pre + len(dict) + 1
	pad := (64 - total%64) % 64
	h := make([]byte, 0, total+pad)
	h = append(h, "\x93NUMPY\x01\x00"...)
	h = binary.LittleEndian.AppendUint16(h, uint16(len(dict)+pad+1)) // #nosec G115 -- check bounds the dimensions: under 2 KiB
	h = append(h, dict...)
	h = append(h, strings.Repeat(" ", pad)...)
	return append(h, '\n')
}

// WriteNPY writes a as a .npy file (format 1.0, C order, little-endian): what np.save
// writes and np.load reads back, value for value.
func WriteNPY(w io.Writer, a Array) error {
	if err := a.check(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	descr := "<f8"
	if a.Int64 != nil {
		descr = "<i8"
	}
	// bufio.Writer's errors are sticky, but a failed destination should stop the loop
	// at once rather than after every remaining value.
	if _, err := bw.Write(npyHeader(descr, a.Shape)); err != nil {
		return err
	}
	var b [8]byte
	for _, x := range a.Float64 {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
		if _, err := bw.Write(b[:]); err != nil {
			return err
		}
	}
	for _, x := range a.Int64 {
		binary.LittleEndian.PutUint64(b[:], uint64(x)) // #nosec G115 -- two's complement bits, as '<i8' stores them
		if _, err := bw.Write(b[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteNPZ writes arrays as an .npz archive, as np.savez does: an uncompressed zip with
// one "<name>.npy" member per array, in order. Names must be unique, non-empty and free
// of path separators.
func WriteNPZ(w io.Writer, arrays []Array) error {
	seen := make(map[string]bool, len(arrays))
	for _, a := range arrays {
		if a.Name == "" || strings.ContainsAny(a.Name, `/\`) || seen[a.Name] {
			return fmt.Errorf("%w: npz member name %q must be unique, non-empty and without path separators", ErrArray, a.Name)
		}
		seen[a.Name] = true
		if err := a.check(); err != nil {
			return err
		}
	}
	zw := zip.NewWriter(w)
	for _, a := range arrays {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: a.Name + ".npy", Method: zip.Store})
		if err != nil {
			return err
		}
		if err := WriteNPY(fw, a); err != nil {
			return err
		}
	}
	return zw.Close()
}
