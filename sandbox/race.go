//go:build race

package sandbox

const raceEnabled = true

// childNice under the race detector (tests only) keeps the parent's
// priority: the detector slows a child five to ten times, and at nice 10
// on a loaded two-core machine (a load of 26 while the whole suite runs) a
// candidate's tests outran their 5 s.
const childNice = 0
