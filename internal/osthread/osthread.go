// Package osthread runs functions on one OS thread. C libraries that keep state per thread
// need every call made on the same one: CUDA's current context is per thread, and MPI
// initialised with MPI_THREAD_FUNNELED takes calls from its initialising thread only. A
// goroutine moves between threads, so those calls are handed to a goroutine locked to its
// thread, which runs them in order.
package osthread

import "runtime"

// Thread is a goroutine locked to its OS thread that runs the functions given to Do, one
// at a time, in order.
type Thread struct {
	work chan func()
}

// Start starts a Thread and runs init on it first (the library's set-up). If init fails
// the thread ends and its error is returned. The thread is never unlocked: it ends with its
// goroutine (after Stop), and the Go runtime retires it, so no per-thread state a library
// left on it is seen by other goroutines.
func Start(init func() error) (*Thread, error) {
	t := &Thread{work: make(chan func())}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := init()
		ready <- err
		if err != nil {
			return
		}
		for f := range t.work {
			f()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return t, nil
}

// Do runs f on the thread, after the functions given before it, and returns its error. It
// must not be called after Stop.
func (t *Thread) Do(f func() error) error {
	done := make(chan error, 1)
	t.work <- func() { done <- f() }
	return <-done
}

// Stop ends the thread once the functions given so far have run.
func (t *Thread) Stop() { close(t.work) }
