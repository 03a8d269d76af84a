// Package device is the Device grain of the device authorization grant
// (RFC 8628): one grain per device authorization (kind Device, identity
// the id in the device code "id.secret"), holding its state from the
// device's request to the single redemption of its device code, and the
// user code index (bucket device_user_codes) that leads the verification
// page from a user code to that grain.
//
// The grain decides once (approve or deny) and tells the token endpoint
// what a poll finds; it never issues tokens. An approval is a code in the
// approving user's Session grain (session ApproveDevice), redeemed with
// the device code's secret like any code, so the grant, its revocation,
// logout and userinfo behave as for the code flow.
//
// It must not store the device code's secret: only its SHA-256.
package device
