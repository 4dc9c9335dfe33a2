// Package golden keeps test encodings in files: the golden encodings of
// each wire and storage format, which the packages owning the formats
// decode in their tests forever (see internal/version).
//
// # Files
//
// A golden file holds hex digits, any whitespace, and comments from "#" to
// the end of a line. Check compares an encoding with one and, when the
// test runs with the package's -update flag, writes it instead.
package golden
