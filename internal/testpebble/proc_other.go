//go:build !linux

package testpebble

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
