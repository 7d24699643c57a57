// Package testresult reads what a test command reported and chooses which
// tests a change affects; it is the pure part of the test step (SPEC §6)
// and knows nothing of the engine.
//
// A test step runs its command, then Detect (for format "auto") and
// ResultsPath tell where the results are and in which format; Parse turns
// the output into a Result, whose Outputs are the step's outputs, and
// Result.WithExitCode checks it against the command's exit code. Formats:
// go test -json, JUnit XML, TAP, pytest's summary line, and the exit code
// alone (FromExitCode).
//
// Counts are never guessed: output that is cut or malformed is a
// *ParseError (wrapping ErrTruncated or ErrNoResults), never a smaller
// count.
//
// For with.select: changed, Select maps the paths changed since a base
// (git diff --name-only) through Rules to the test files and Go packages
// they affect, the seed's incremental validation made general, and Group
// splits them into what pytest and go test each run.
package testresult
