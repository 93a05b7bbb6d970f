//go:build !linux

package main

func linuxInit() error { return nil }
