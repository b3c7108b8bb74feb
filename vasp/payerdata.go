package vasp

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
)

// The payer data a sender's payreq carries. vaspd fills the identifier,
// the compliance block and the user's name itself; anything else a
// receiver asks for (LUD-18 payerData in its lookup answer, shown to the
// platform as requiredPayerDataFields) comes from the quote's
// senderUserInfo, keyed by the UMAaaS field names below.

// PayerFieldNames maps the LUD-18 payer data keys to the UMAaaS field names
// the platform sees (lookup's requiredPayerDataFields) and gives
// (senderUserInfo). A key without a name here cannot be asked of the
// platform: a receiver demanding one judges our payreq itself.
var PayerFieldNames = map[string]string{"name": "FULL_NAME", "email": "EMAIL", "identifier": "IDENTIFIER",
	"countryOfResidence": "COUNTRY_OF_RESIDENCE", "birthDate": "BIRTH_DATE", "nationality": "NATIONALITY",
	"phoneNumber": "PHONE_NUMBER", "postalAddress": "POSTAL_ADDRESS", "accountIdentifier": "ACCOUNT_IDENTIFIER"}

// maxSenderUserInfo bounds senderUserInfo, as JSON: it travels in the
// payreq and is kept with the quote.
const maxSenderUserInfo = 16 << 10

// senderPayerData is the payer data besides identifier and compliance that
// a payreq to a receiver asking opts carries for our user named name, with
// the platform's info (UMAaaS names → values). It refuses info that is not
// usable (400 INVALID_INPUT) and, before any payreq is sent, a mandatory
// field neither we nor info provide: 400 MISSING_MANDATORY_USER_INFO with
// details.requiredFields (the UMAaaS names, sorted). Only fields the
// receiver asked for are sent (the name excepted, which vaspd always
// sends): nothing of the user's goes where it was not asked.
func senderPayerData(opts uma.CounterpartyDataOptions, name string, info map[string]any) (*uma.PayerData, error) {
	if len(info) > 0 {
		if b, err := json.Marshal(info); err != nil || len(b) > maxSenderUserInfo {
			return nil, vaspd.InvalidInput("senderUserInfo must be at most %d bytes of JSON", maxSenderUserInfo)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(info)) {
		v := info[k]
		switch s, isString := v.(string); {
		case v == nil || (isString && s == ""):
			return nil, vaspd.InvalidInput("senderUserInfo.%s is empty", vaspd.Truncate(k, 64))
		case (k == "FULL_NAME" || k == "EMAIL") && !isString:
			return nil, vaspd.InvalidInput("senderUserInfo.%s must be a string", k)
		}
	}
	pd := &uma.PayerData{Name: name}
	if s, ok := info["FULL_NAME"].(string); ok {
		pd.Name = vaspd.Truncate(s, maxPayeeName)
	}
	var missing []string
	for key, opt := range opts {
		field, named := PayerFieldNames[key]
		if !named || key == uma.DataIdentifier {
			continue // ours (identifier), or not ours to ask for
		}
		v, given := info[field]
		switch {
		case key == uma.DataName:
			given = pd.Name != ""
		case given && key == uma.DataEmail:
			pd.Email = v.(string)
		case given:
			raw, _ := json.Marshal(v)
			if pd.Extra == nil {
				pd.Extra = map[string]json.RawMessage{}
			}
			pd.Extra[key] = raw
		}
		if opt.Mandatory && !given {
			missing = append(missing, field)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, (&vaspd.Error{Status: http.StatusBadRequest, Code: vaspd.CodeMissingMandatoryUserInfo,
			Message: "the receiver requires payer information not given in senderUserInfo"}).
			WithDetails(map[string]any{"requiredFields": missing})
	}
	return pd, nil
}

// checkPayeeData refuses a verified payreq answer that lacks payee data
// asked as mandatory (LUD-22, UMAD-06). The identifier is not required:
// the signature verified binds the answer to the address we paid (see
// uma.Verifier.VerifyPayReqResponse), and the JS SDK leaves it out.
func checkPayeeData(asked uma.CounterpartyDataOptions, resp *uma.PayReqResponse) error {
	opts := make(uma.CounterpartyDataOptions, len(asked))
	for k, v := range asked {
		if k != uma.DataIdentifier {
			opts[k] = v
		}
	}
	if err := resp.CheckMandatoryPayeeData(opts); err != nil {
		return quoteStep.failed("the receiver's answer lacks payee data we require: %s: %s",
			uma.AsError(err).Code, uma.AsError(err).Reason)
	}
	return nil
}
