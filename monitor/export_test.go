package monitor

import "time"

// WaitBackground waits for the background disk walk and directory read of
// a monitor whose sampler was not started.
func (m *Monitor) WaitBackground() { m.wg.Wait() }

// Dropped counts the samples slow streams missed.
func (m *Monitor) Dropped() uint64 { return m.subs.dropped.Load() }

// Subscribers counts the open streams.
func (m *Monitor) Subscribers() int { return m.subs.len() }

// SetPingInterval changes the streams' keep-alive interval.
func (m *Monitor) SetPingInterval(d time.Duration) { m.pingInterval = d }

// SetDirectoryTimings changes the least time between two reads of the
// tenant directory and the longest wait for its first read.
func (m *Monitor) SetDirectoryTimings(retry, firstWait time.Duration) {
	m.dirRetry, m.dirFirstWait = retry, firstWait
}
