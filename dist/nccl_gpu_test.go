package dist

import (
	"fmt"
	"math"
	"os"
	"testing"

	"mdsm/internal/cuda"
	"mdsm/internal/nccl"
)

// TestNCCLOnGPU is the NCCL check of scripts/gpu_check.sh: the real library on GPU 0, one
// rank: the communicator opens (its id made by NCCL and passed by value), and an
// all-reduce, an all-gather, a broadcast and a grouped all-to-all (the data-parallel
// exchange's) of device buffers on the context's stream give back the buffer bit for bit. It skips without a GPU (MDSM_REQUIRE_GPU=1 makes that a
// failure) or without NCCL (MDSM_REQUIRE_NCCL=1).
func TestNCCLOnGPU(t *testing.T) {
	need := func(env, msg string) {
		t.Helper()
		if os.Getenv(env) == "1" {
			t.Fatalf("%s=1: %s", env, msg)
		}
		t.Skip(msg)
	}
	drv, err := cuda.LoadDriver(cuda.DefaultFinder())
	if err != nil {
		need("MDSM_REQUIRE_GPU", "no GPU: "+err.Error())
	}
	if n, err := drv.DeviceCount(); err != nil || n == 0 {
		need("MDSM_REQUIRE_GPU", fmt.Sprintf("no GPU (%d devices, %v)", n, err))
	}
	lib, err := nccl.Load()
	if err != nil {
		need("MDSM_REQUIRE_NCCL", "no NCCL: "+err.Error())
	}
	if v, err := lib.Version(); err == nil {
		t.Logf("NCCL %d.%d.%d from %s", v/10000, v/100%100, v%100, lib.Path)
	}
	ctx, err := cuda.NewContext(drv, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	const count = 1 << 20
	host := make([]float32, count)
	for i := range host {
		host[i] = float32(math.Sin(float64(i))) * 1e3
	}
	err = ctx.Do(func() error { // NCCL joins the device current on the calling thread
		c, err := OpenNCCL(Launch{Launcher: LaunchSingle, Size: 1, LocalSize: 1}, nil)
		if err != nil {
			return err
		}
		defer c.Destroy()
		send, err := ctx.Alloc(4 * count)
		if err != nil {
			return err
		}
		defer ctx.Free(send)
		recv, err := ctx.Alloc(4 * count)
		if err != nil {
			return err
		}
		defer ctx.Free(recv)
		if err := ctx.Upload(send, host); err != nil {
			return err
		}
		got := make([]float32, count)
		for _, op := range []struct {
			name string
			run  func() error
		}{
			{"all-reduce", func() error {
				return c.AllReduce(uintptr(send), uintptr(recv), count, nccl.Float32, nccl.Sum, ctx.Stream)
			}},
			{"all-gather", func() error { return c.AllGather(uintptr(send), uintptr(recv), count, nccl.Float32, ctx.Stream) }},
			{"broadcast", func() error { return c.Broadcast(uintptr(send), uintptr(recv), count, nccl.Float32, 0, ctx.Stream) }},
			{"all-to-all", func() error { return c.AllToAll(uintptr(send), uintptr(recv), count, nccl.Float32, ctx.Stream) }},
		} {
			if err := ctx.Fill(recv, -1, count); err != nil {
				return err
			}
			if err := op.run(); err != nil {
				return err
			}
			if err := ctx.Download(got, recv); err != nil { // waits for the stream
				return err
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(host[i]) {
					return fmt.Errorf("%s: element %d is %v, sent %v", op.name, i, got[i], host[i])
				}
			}
		}
		return c.AsyncError()
	})
	if err != nil {
		t.Fatal(err)
	}
}
