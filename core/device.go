package core

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"mdsm/nn"
	"mdsm/sampling"
)

// DeviceFlagHelp is the help text of every command's --device flag.
const DeviceFlagHelp = "where the network runs: auto (a GPU when a driver and a GPU are found, else the CPU), cpu, cuda or cuda:N"

// Device is where a run's network is evaluated: the CPU or a device of a registered
// Backend. Open one with OpenDevice.
type Device struct {
	Kind    string // "cpu" or a backend's name ("cuda")
	Ordinal int    // the device number within its backend
	TF32    bool   // allow TF32 tensor-core arithmetic for float32 convolutions (GPUs)
	Name    string // what it is, for people: "cpu", "cuda:0 (NVIDIA H200, 139 GiB)"
	backend Backend
}

// String is the device in --device syntax: "cpu" or "cuda:0".
func (d Device) String() string {
	if d.Kind == "cpu" || d.Kind == "" {
		return "cpu"
	}
	return fmt.Sprintf("%s:%d", d.Kind, d.Ordinal)
}

// IsCPU reports whether d is the CPU.
func (d Device) IsCPU() bool { return d.backend == nil }

// CPU is the CPU device.
var CPU = Device{Kind: "cpu", Name: "cpu"}

// Backend is a family of compute devices other than the CPU. The gpu package registers
// the CUDA backend in its init; core and its callers never name a device kind beyond
// choosing one by --device.
type Backend interface {
	// Name is the --device prefix ("cuda").
	Name() string
	// Probe checks that device ordinal can be used (driver, libraries, the device) and
	// describes it; the error is one line naming what is missing, where it was looked for
	// and the fix.
	Probe(ordinal int) (string, error)
	// NewTrainEngine makes a training engine for cfg on the device, loaded with p and a.
	NewTrainEngine(d Device, cfg RunConfig, p *nn.Params[float32], a *Adam) (TrainEngine, error)
	// NewEnergy makes an energy model for samplers over weights p on the device. Close
	// frees it.
	NewEnergy(d Device, p *nn.Params[float32]) (EnergyModel, error)
	// Readings reports the device's name, memory and utilisation (the workbench header).
	Readings(d Device) (DeviceReadings, error)
	// Count is the number of devices this process sees.
	Count() (int, error)
}

// DeviceCount is the number of devices of a backend ("cuda") this process sees; an error
// when the backend is not in this build or its libraries cannot be used.
func DeviceCount(kind string) (int, error) {
	b, ok := backend(kind)
	if !ok {
		return 0, fmt.Errorf("this build has no %s backend", kind)
	}
	return b.Count()
}

// EnergyModel is a sampling.Energy that holds resources until Close.
type EnergyModel interface {
	sampling.Energy
	Close() error
}

// DeviceReadings is what the workbench header shows of a device.
type DeviceReadings struct {
	Name          string
	MemUsed       int64 // bytes in use on the device (all processes)
	MemTotal      int64
	UtilPercent   int // percent of the last sample period a kernel ran
	HasGPUReading bool
}

var (
	backendsMu sync.Mutex
	backends   = map[string]Backend{}
)

// RegisterBackend makes a device backend available to --device. It is called from the
// backend package's init.
func RegisterBackend(b Backend) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	backends[b.Name()] = b
}

func backend(name string) (Backend, bool) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	b, ok := backends[name]
	return b, ok
}

// ParseDevice checks a --device value: auto, cpu, or KIND[:N] (cuda, cuda:1).
func ParseDevice(spec string) (kind string, ordinal int, err error) {
	spec = strings.TrimSpace(strings.ToLower(spec))
	switch spec {
	case "", "auto":
		return "auto", 0, nil
	case "cpu":
		return "cpu", 0, nil
	}
	kind, num, hasNum := strings.Cut(spec, ":")
	if kind != "cuda" {
		return "", 0, fmt.Errorf("device %q: use auto, cpu, cuda or cuda:N", spec)
	}
	if hasNum {
		ordinal, err = strconv.Atoi(num)
		if err != nil || ordinal < 0 {
			return "", 0, fmt.Errorf("device %q: the GPU number after %s: must be 0, 1, ...", spec, kind)
		}
	}
	return kind, ordinal, nil
}

// OpenDevice resolves a --device value. auto takes GPU 0 when its backend is registered
// and Probe succeeds, else the CPU; note then says which was chosen and why, for the log.
// An explicit device that cannot be used is an error.
func OpenDevice(spec string, tf32 bool) (d Device, note string, err error) {
	kind, ord, err := ParseDevice(spec)
	if err != nil {
		return CPU, "", err
	}
	if kind == "cpu" {
		return CPU, "device: cpu", nil
	}
	name := kind
	if kind == "auto" {
		name = "cuda"
	}
	b, ok := backend(name)
	if !ok {
		if kind == "auto" {
			return CPU, "device auto: cpu (this build has no GPU backend)", nil
		}
		return CPU, "", fmt.Errorf("device %s: this build has no %s backend", spec, name)
	}
	desc, perr := b.Probe(ord)
	if perr != nil {
		if kind == "auto" {
			return CPU, "device auto: cpu (no usable GPU: " + perr.Error() + ")", nil
		}
		return CPU, "", fmt.Errorf("device %s: %w", spec, perr)
	}
	d = Device{Kind: name, Ordinal: ord, TF32: tf32, Name: desc, backend: b}
	if kind == "auto" {
		return d, "device auto: " + desc, nil
	}
	return d, "device: " + desc, nil
}

// NewTrainEngine makes the training engine of cfg on d, loaded with p and a. On the CPU
// the engine trains p and a in place.
func (d Device) NewTrainEngine(cfg RunConfig, p *nn.Params[float32], a *Adam) (TrainEngine, error) {
	if d.backend == nil {
		return NewCPUEngine(cfg, p, a), nil
	}
	return d.backend.NewTrainEngine(d, cfg, p, a)
}

// NewEnergy makes an energy model over weights p for samplers on d (on the CPU an
// nn.Model reading p). Close it when done.
func (d Device) NewEnergy(p *nn.Params[float32]) (EnergyModel, error) {
	if d.backend == nil {
		return cpuEnergy{nn.NewModel(p)}, nil
	}
	return d.backend.NewEnergy(d, p)
}

// Readings reports the device's header readings; the CPU has none (HasGPUReading false).
func (d Device) Readings() (DeviceReadings, error) {
	if d.backend == nil {
		return DeviceReadings{Name: "cpu"}, nil
	}
	return d.backend.Readings(d)
}

// cpuEnergy is an nn.Model as an EnergyModel.
type cpuEnergy struct{ *nn.Model[float32] }

func (cpuEnergy) Close() error { return nil }
