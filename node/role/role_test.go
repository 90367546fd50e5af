package role

import (
	"testing"

	"eserver/node/api"
	"eserver/node/promotion"
)

// TestReasonsAreTheAPIs: the role component passes promotion's reasons to
// the API as they are, so each must be one of api's RoleReason words, which
// front ends translate (issue 23).
func TestReasonsAreTheAPIs(t *testing.T) {
	tests := []struct {
		promotion promotion.Reason
		api       string
	}{
		{promotion.ReasonConditionsHold, api.RoleReasonConditionsHold},
		{promotion.ReasonOptedOut, api.RoleReasonOptedOut},
		{promotion.ReasonNotPublic, api.RoleReasonNotPublic},
		{promotion.ReasonNoTCP, api.RoleReasonNoTCP},
		{promotion.ReasonNoQUIC, api.RoleReasonNoQUIC},
		{promotion.ReasonLowMemory, api.RoleReasonLowMemory},
		{promotion.ReasonStartFailed, api.RoleReasonStartFailed},
		{promotion.ReasonShutdown, api.RoleReasonShutdown},
	}
	for _, tt := range tests {
		if string(tt.promotion) != tt.api {
			t.Errorf("promotion says %q, the API %q", tt.promotion, tt.api)
		}
	}
}
