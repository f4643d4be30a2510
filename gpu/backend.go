// Package gpu is mdsm's engine on NVIDIA GPUs: the same network, loss and optimiser as
// the CPU engine (nn, core), with cuDNN convolutions and the project's own kernels
// (kernels.cu, compiled by NVRTC at start), behind core.TrainEngine and
// sampling.Energy. Importing it registers the "cuda" device backend; everything is loaded
// at run time (internal/cuda), so a binary built without CUDA runs on a GPU server.
package gpu

import (
	"fmt"
	"sync"

	"mdsm/core"
	"mdsm/internal/cuda"
	"mdsm/nn"
)

func init() { core.RegisterBackend(backend{}) }

// libs are the loaded libraries, shared by every engine of the process.
type libs struct {
	drv  *cuda.Driver
	rtc  *cuda.NVRTC
	dnn  *cuda.CuDNN
	nvml *cuda.NVML // nil when NVML is missing: only the header's readings need it
}

var (
	libsOnce sync.Once
	loaded   *libs
	loadErr  error
)

// load loads the libraries once: the driver, NVRTC and cuDNN are needed, NVML is optional.
func load() (*libs, error) {
	libsOnce.Do(func() { loaded, loadErr = loadWith(cuda.DefaultFinder()) })
	return loaded, loadErr
}

// loadWith loads the libraries f finds.
func loadWith(f *cuda.Finder) (*libs, error) {
	l := &libs{}
	var err error
	if l.drv, err = cuda.LoadDriver(f); err != nil {
		return nil, err
	}
	if l.rtc, err = cuda.LoadNVRTC(f); err != nil {
		return nil, err
	}
	if l.dnn, err = cuda.LoadCuDNN(f); err != nil {
		return nil, err
	}
	l.nvml, _ = cuda.LoadNVML(f)
	return l, nil
}

// Available reports whether the CUDA backend can run on this machine, and why not.
func Available() error { _, err := load(); return err }

type backend struct{}

func (backend) Name() string { return "cuda" }

func (backend) Probe(ordinal int) (string, error) {
	l, err := load()
	if err != nil {
		return "", err
	}
	info, err := l.drv.Device(ordinal)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("cuda:%d (%s, %.0f GiB, %s, driver CUDA %d.%d, NVRTC %d.%d, cuDNN %d)", ordinal, info.Name,
		float64(info.TotalMem)/(1<<30), info.Arch(), l.drv.Version/1000, l.drv.Version%1000/10, l.rtc.Major, l.rtc.Minor, l.dnn.Version), nil
}

func (backend) NewTrainEngine(d core.Device, cfg core.RunConfig, p *nn.Params[float32], a *core.Adam) (core.TrainEngine, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	o, err := openCUDA(l, d.Ordinal, d.TF32)
	if err != nil {
		return nil, err
	}
	return newTrainEngine(o, d.Name, d.Ordinal, o.c.Stream, cfg, p, a)
}

func (backend) NewEnergy(d core.Device, p *nn.Params[float32]) (core.EnergyModel, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	o, err := openCUDA(l, d.Ordinal, d.TF32)
	if err != nil {
		return nil, err
	}
	return newEnergyModel(o, p)
}

func (backend) Count() (int, error) {
	l, err := load()
	if err != nil {
		return 0, err
	}
	return l.drv.DeviceCount()
}

func (backend) Readings(d core.Device) (core.DeviceReadings, error) {
	l, err := load()
	if err != nil {
		return core.DeviceReadings{}, err
	}
	if l.nvml == nil {
		return core.DeviceReadings{Name: d.Name}, fmt.Errorf("no GPU readings: %s not found", cuda.NVMLLib.Name)
	}
	info, err := l.drv.Device(d.Ordinal)
	if err != nil {
		return core.DeviceReadings{}, err
	}
	r, err := l.nvml.Read(info.PCIBusID)
	if err != nil {
		return core.DeviceReadings{}, err
	}
	return core.DeviceReadings{Name: r.Name, MemUsed: r.MemUsed, MemTotal: r.MemTot, UtilPercent: r.Util, HasGPUReading: true}, nil
}
