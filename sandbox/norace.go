//go:build !race

package sandbox

const raceEnabled = false

// childNice is the children's scheduling priority (Linux): on a busy
// machine the server's own threads get about nine tenths of a CPU for each
// tenth a child gets.
const childNice = 10
