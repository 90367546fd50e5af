//go:build race

package main

// raceEnabled: under the race detector the daemons (this binary) run
// several times slower, so a call's timing (TestCallNetem's jitter buffer
// delays) measures the detector, not the call.
const raceEnabled = true
