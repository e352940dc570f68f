// Package queue is hookguard's durable delivery: a Store keeps verified
// webhook events until the app takes them, and a Dispatcher delivers them,
// retrying with backoff, and keeps those that fail for good as dead
// letters.
package queue
