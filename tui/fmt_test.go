package tui

import "fmt"

func fmtType(v any) string { return fmt.Sprintf("%T", v) }

func itoa(i int) string { return fmt.Sprint(i) }
