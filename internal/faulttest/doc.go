// Package faulttest holds hookguard's fault-injection suite (tests only):
// an accounting harness that runs the real hookguard binary between a
// sender that retries like LiveKit and an app that misbehaves on purpose,
// and checks per event id that nothing is lost and nothing acknowledged is
// delivered twice. See faults_test.go and badinput_test.go.
package faulttest
