// Package readmecheck has no code: its tests keep the repository README
// honest. The embedding example there is extracted and built as a program
// of its own, against this checkout, so it can never stop compiling
// unnoticed.
package readmecheck
