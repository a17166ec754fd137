// Package frame is the RFC 6455 wire codec shared by package ws (the server)
// and package wstest (the test client): the frame header encoder and parser,
// the masking function and the close-code rules. It does no I/O, never
// allocates and imports only the standard library.
package frame
