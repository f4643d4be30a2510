//go:build !amd64 || purego

package winograd

// Without the assembly kernels every level runs the Go transforms.

const haveVec = false

func inputVec(m int, job *laneJob)         { panic("winograd: no vector kernels") }
func outputVec(m int, job *laneJob)        { panic("winograd: no vector kernels") }
func outputAdjointVec(m int, job *laneJob) { panic("winograd: no vector kernels") }
