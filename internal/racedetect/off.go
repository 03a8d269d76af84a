//go:build !race

// Package racedetect tells a test whether the race detector is on.
package racedetect

// On: built with the race detector.
const On = false
