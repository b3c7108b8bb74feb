package delivery

// Slow start: how many attempts to one endpoint this process may have in
// flight. An endpoint starts at one attempt in flight (new, unknown since
// the process started, or failing), doubles its window on each success up
// to Options.PerEndpoint, and falls back to one on any failure. An endpoint
// that times out therefore never holds more than one attempt per process
// before its back-off starts, however many deliveries it has due, and a
// healthy endpoint reaches its full concurrency after a few successes.

// window returns endpoint id's current window.
func (s *Service) window(id string) int {
	s.winMu.Lock()
	defer s.winMu.Unlock()
	if w, ok := s.win[id]; ok {
		return w
	}
	return 1
}

// grow doubles endpoint id's window after a success.
func (s *Service) grow(id string) {
	s.winMu.Lock()
	defer s.winMu.Unlock()
	w := max(s.win[id], 1)
	s.win[id] = min(2*w, s.opt.PerEndpoint)
}

// shrink resets endpoint id's window to one after a failure.
func (s *Service) shrink(id string) {
	s.winMu.Lock()
	defer s.winMu.Unlock()
	s.win[id] = 1
}
