package vasp

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/webhook"
)

// The payer data a sender's payreq carries. vaspd fills the identifier,
// the compliance block and the user's name itself; anything else a
// receiver asks for (LUD-18 payerData in its lookup answer, shown to the
// platform as requiredPayerDataFields) comes from the quote's
// senderUserInfo, keyed by the UMAaaS field names below.

// PayerFieldNames maps the LUD-18 payer data keys to the UMAaaS field names
// the platform sees (lookup's requiredPayerDataFields) and gives
// (senderUserInfo). A key without a name here cannot be asked of the
// platform: a receiver demanding one judges our payreq itself. LUD-22's
// payee data uses the same keys, so the map serves both sides
// (receiverUserInfo, a quote's counterpartyInformation).
var PayerFieldNames = map[string]string{
	"name": webhook.FieldFullName, "email": webhook.FieldEmail, "identifier": webhook.FieldIdentifier,
	"countryOfResidence": webhook.FieldCountryOfResidence, "birthDate": webhook.FieldBirthDate,
	"nationality": webhook.FieldNationality, "phoneNumber": webhook.FieldPhoneNumber,
	"postalAddress": webhook.FieldPostalAddress, "accountIdentifier": webhook.FieldAccountIdentifier,
}

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

// DefaultRequiredCounterpartyFields is what a receiving vaspd asks of
// senders, by default, besides the identifier and compliance data UMA
// makes mandatory: the payer's name, optional.
const DefaultRequiredCounterpartyFields = "FULL_NAME:optional"

// ParseRequiredCounterpartyFields parses the required-counterparty-fields
// setting: comma-separated UMAaaS field names (the UserInfoFieldName of
// PayerFieldNames: FULL_NAME, EMAIL, BIRTH_DATE, NATIONALITY, …), each
// mandatory, or asked but optional with ":optional" (":mandatory" may be
// written). It returns them as LUD-18 payer data options, for
// Options.PayerData. IDENTIFIER is always mandatory in UMA: listing it
// adds nothing, and listing it optional is refused. "" asks for nothing
// more (an empty, non-nil result).
func ParseRequiredCounterpartyFields(v string) (uma.CounterpartyDataOptions, error) {
	keys := make(map[string]string, len(PayerFieldNames))
	for key, name := range PayerFieldNames {
		keys[name] = key
	}
	out := uma.CounterpartyDataOptions{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	for _, entry := range strings.Split(v, ",") {
		name, mode, hasMode := strings.Cut(strings.TrimSpace(entry), ":")
		name = strings.ToUpper(strings.TrimSpace(name))
		mandatory := true
		switch m := strings.ToLower(strings.TrimSpace(mode)); {
		case !hasMode, m == "mandatory":
		case m == "optional":
			mandatory = false
		default:
			return nil, fmt.Errorf("%q: want FIELD, FIELD:mandatory or FIELD:optional", vaspd.Truncate(strings.TrimSpace(entry), 64))
		}
		key, known := keys[name]
		switch {
		case name == "":
			return nil, fmt.Errorf("an empty entry (a stray comma?): want comma-separated field names such as FULL_NAME,EMAIL:optional")
		case !known:
			return nil, fmt.Errorf("%q is not a field a sender can give: want one of %s", vaspd.Truncate(name, 64), strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
		case key == uma.DataIdentifier && !mandatory:
			return nil, fmt.Errorf("IDENTIFIER is always mandatory in UMA")
		case key == uma.DataIdentifier:
			continue
		}
		if prev, dup := out[key]; dup && prev.Mandatory != mandatory {
			return nil, fmt.Errorf("%s is listed both mandatory and optional", name)
		}
		out[key] = uma.CounterpartyDataOption{Mandatory: mandatory}
	}
	return out, nil
}
