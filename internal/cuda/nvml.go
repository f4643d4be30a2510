package cuda

import "fmt"

// NVML is the bound NVIDIA management library: the readings of the workbench header (the
// GPU's name, memory in use and utilisation, as nvidia-smi and nvitop show them).
type NVML struct {
	Path string

	nvmlInit                func() int32
	nvmlShutdown            func() int32
	nvmlErrorString         func(res int32) string
	nvmlGetHandleByPciBusID func(bus string, dev *uintptr) int32
	nvmlGetHandleByIndex    func(i uint32, dev *uintptr) int32
	nvmlGetName             func(dev uintptr, name *byte, n uint32) int32
	nvmlGetMemoryInfo       func(dev uintptr, m *nvmlMemory) int32
	nvmlGetUtilization      func(dev uintptr, u *nvmlUtilization) int32
}

type nvmlMemory struct{ Total, Free, Used uint64 }
type nvmlUtilization struct{ GPU, Memory uint32 }

// LoadNVML finds libnvidia-ml, binds it and initialises it.
func LoadNVML(f *Finder) (*NVML, error) {
	h, path, err := f.Find(NVMLLib)
	if err != nil {
		return nil, err
	}
	return bindNVML(h, path)
}

func bindNVML(h uintptr, path string) (*NVML, error) {
	n := &NVML{Path: path}
	b := &binder{lib: NVMLLib.Name, path: path, h: h}
	b.fn(&n.nvmlInit, "nvmlInit_v2")
	b.fn(&n.nvmlShutdown, "nvmlShutdown")
	b.fn(&n.nvmlErrorString, "nvmlErrorString")
	b.fn(&n.nvmlGetHandleByPciBusID, "nvmlDeviceGetHandleByPciBusId_v2")
	b.fn(&n.nvmlGetHandleByIndex, "nvmlDeviceGetHandleByIndex_v2")
	b.fn(&n.nvmlGetName, "nvmlDeviceGetName")
	b.fn(&n.nvmlGetMemoryInfo, "nvmlDeviceGetMemoryInfo")
	b.fn(&n.nvmlGetUtilization, "nvmlDeviceGetUtilizationRates")
	if b.err != nil {
		return nil, b.err
	}
	if err := n.check(n.nvmlInit(), "nvmlInit_v2"); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *NVML) check(res int32, call string) error {
	if res == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (%d)", call, n.nvmlErrorString(res), res)
}

// Reading is one look at a GPU.
type Reading struct {
	Name            string
	MemUsed, MemTot int64
	Util            int // percent
}

// Read reads the GPU at PCI bus id bus (Context.Info.PCIBusID: NVML numbers GPUs in PCI
// order, CUDA fastest first, so the bus id is what ties the two together).
func (n *NVML) Read(bus string) (Reading, error) {
	var dev uintptr
	if err := n.check(n.nvmlGetHandleByPciBusID(bus, &dev), "nvmlDeviceGetHandleByPciBusId"); err != nil {
		return Reading{}, err
	}
	name := make([]byte, 96)
	if err := n.check(n.nvmlGetName(dev, &name[0], uint32(len(name))), "nvmlDeviceGetName"); err != nil {
		return Reading{}, err
	}
	var m nvmlMemory
	if err := n.check(n.nvmlGetMemoryInfo(dev, &m), "nvmlDeviceGetMemoryInfo"); err != nil {
		return Reading{}, err
	}
	var u nvmlUtilization
	if err := n.check(n.nvmlGetUtilization(dev, &u), "nvmlDeviceGetUtilizationRates"); err != nil {
		return Reading{}, err
	}
	return Reading{Name: goString(name), MemUsed: int64(m.Used), MemTot: int64(m.Total), Util: int(u.GPU)}, nil
}

// Shutdown releases NVML.
func (n *NVML) Shutdown() error { return n.check(n.nvmlShutdown(), "nvmlShutdown") }
