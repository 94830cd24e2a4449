package tracker

import (
	"errors"
	"fmt"
)

// ClientError is the only kind of error whose text a client sees (as the HTTP "failure reason"
// or the UDP error message). It says what was wrong with the request. Any other error reaching
// a front end is logged and shown to the client as "internal server error", so internal details
// never leak.
type ClientError string

func (e ClientError) Error() string { return string(e) }

// clientErrorf formats a ClientError.
func clientErrorf(format string, args ...any) error {
	return ClientError(fmt.Sprintf(format, args...))
}

// internalErrorText is what clients see for any error that is not a ClientError.
const internalErrorText = "internal server error"

// clientText returns the text to send a client for err, and whether err was a ClientError (the
// caller logs the others).
func clientText(err error) (string, bool) {
	var ce ClientError
	if errors.As(err, &ce) {
		return string(ce), true
	}
	return internalErrorText, false
}
