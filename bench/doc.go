// Package bench holds end-to-end benchmarks that need more than one of mfn's packages
// at once (a pipeline and the REST server over one worker pool, against an in-process
// kfake broker); it has no non-test code. Run them with `make bench-pipeline`.
package bench
