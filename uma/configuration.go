package uma

import "encoding/json"

// Configuration is the /.well-known/uma-configuration document (UMAD-10),
// served with Access-Control-Allow-Origin: *.
type Configuration struct {
	Name               string `json:"name,omitempty"` // MUST when served; Go/JS demos omit it
	UmaMajorVersions   []int  `json:"uma_major_versions"`
	UmaRequestEndpoint string `json:"uma_request_endpoint,omitempty"` // accepts POST {"invoice": "uma1..."}

	// UMA Auth (UMADE-01) fields, only for VASPs that implement it.
	AuthorizationEndpoint         string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                 string   `json:"token_endpoint,omitempty"`
	NwcCommandsSupported          []string `json:"nwc_commands_supported,omitempty"`
	GrantTypesSupported           []string `json:"grant_types_supported,omitempty"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
	ConnectionManagementEndpoint  string   `json:"connection_management_endpoint,omitempty"`
	RevocationEndpoint            string   `json:"revocation_endpoint,omitempty"`
}

// NewConfiguration returns our document: name, supported majors [1, 0] and
// the UMA Request endpoint (may be empty).
func NewConfiguration(name, umaRequestEndpoint string) *Configuration {
	return &Configuration{Name: name, UmaMajorVersions: SupportedMajorVersions(), UmaRequestEndpoint: umaRequestEndpoint}
}

// ConfigurationURL is the configuration document URL of domain.
func ConfigurationURL(domain string) string {
	return BaseURL(domain) + "/.well-known/uma-configuration"
}

// ParseConfiguration parses a counterparty's document; failures are
// UMA_CONFIGURATION_FETCH_ERROR (the code the SDKs use for any failure to
// obtain a usable document).
func ParseConfiguration(body []byte) (*Configuration, error) {
	var c Configuration
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, wrapErr(CodeUMAConfigurationFetchError, err, "invalid uma-configuration document")
	}
	if err := repeatedKey(body, CodeUMAConfigurationFetchError, "uma-configuration document"); err != nil {
		return nil, err
	}
	return &c, nil
}

// UmaRequest is the body POSTed to an uma_request_endpoint (UMAD-11).
type UmaRequest struct {
	Invoice string `json:"invoice"`
}

// ParseUmaRequest parses a body POSTed to an uma_request_endpoint. Errors
// are INVALID_REQUEST_FORMAT: not {"invoice": "…"} with an invoice, or
// naming it twice (which invoice was sent cannot be told).
func ParseUmaRequest(body []byte) (*UmaRequest, error) {
	var r UmaRequest
	if err := json.Unmarshal(body, &r); err != nil || r.Invoice == "" {
		return nil, Errorf(CodeInvalidRequestFormat, `UMA request body must be {"invoice": "uma1…"}`)
	}
	if err := repeatedKey(body, CodeInvalidRequestFormat, "UMA request body"); err != nil {
		return nil, err
	}
	return &r, nil
}
