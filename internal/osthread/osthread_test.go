package osthread

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDoRunsOnOneThread: init and every Do run on the same OS thread (the Linux thread
// id), also when Do is called from many goroutines that keep the scheduler busy (without
// the lock, the worker goroutine resumes on whichever thread is free).
func TestDoRunsOnOneThread(t *testing.T) {
	var tid int
	th, err := Start(func() error { tid = unix.Gettid(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer th.Stop()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Add(1)
		go func() { // keeps threads busy meanwhile
			defer wg.Done()
			for range 2000 {
				runtime.Gosched()
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				var seen int
				// a sleep parks the goroutine: unlocked, it would wake on any free thread
				if err := th.Do(func() error { time.Sleep(50 * time.Microsecond); seen = unix.Gettid(); return nil }); err != nil {
					errs <- err
				}
				if seen != tid {
					errs <- fmt.Errorf("a call ran on thread %d, init on %d", seen, tid)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestStartFails: an init error is Start's, and no Thread is returned.
func TestStartFails(t *testing.T) {
	want := errors.New("no library")
	th, err := Start(func() error { return want })
	if !errors.Is(err, want) || th != nil {
		t.Fatalf("Start = %v, %v; want nil, %v", th, err, want)
	}
}

// TestDoReturnsTheError: Do hands back what the function returned.
func TestDoReturnsTheError(t *testing.T) {
	th, err := Start(func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer th.Stop()
	want := errors.New("call failed")
	if err := th.Do(func() error { return want }); !errors.Is(err, want) {
		t.Fatalf("Do = %v, want %v", err, want)
	}
}
