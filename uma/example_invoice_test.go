package uma_test

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/uma"
)

// ExampleInvoice creates an UMA invoice as a receiver and pays it as a sender.
func ExampleInvoice() {
	key, _ := uma.GeneratePrivateKey()
	receiverKeys := uma.StaticKeys{"vasp2.com": {Signing: key.PublicKey(), Encryption: key.PublicKey()}}

	// Receiver: a signed request for 12.50 USD, payable for one hour.
	inv := &uma.Invoice{
		ReceiverUMA:           "$bob@vasp2.com",
		InvoiceUUID:           "c7c07fec-cf00-431c-916f-6c13fc4b69f9",
		Amount:                1250,
		ReceivingCurrency:     uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
		Expiration:            time.Now().Add(time.Hour).Unix(),
		IsSubjectToTravelRule: true,
		RequiredPayerData:     uma.UMADataOptions("name"),
		UmaVersions:           uma.Version1.String(),
		MaxNumPayments:        1,
		KycStatus:             uma.KycVerified,
		Callback:              "https://vasp2.com/api/uma/payreq/bob",
	}
	if err := inv.Sign(key); err != nil {
		panic(err)
	}
	link, _ := inv.URI() // show as a QR code, or POST {"invoice": ...} to the sender's uma_request_endpoint
	fmt.Println(link[:10])

	// Sender: decode, verify with the receiver's keys, and build the pay request.
	got, err := uma.DecodeInvoice(link)
	if err != nil {
		panic(err)
	}
	v := &uma.Verifier{Keys: receiverKeys}
	if _, err := v.VerifyInvoice(context.Background(), got); err != nil {
		panic(err)
	}
	version, _ := uma.SelectInvoiceVersion(got.UmaVersions)
	req := uma.PayRequest{
		Amount: got.Amount, SendingCurrency: got.ReceivingCurrency.Code, ReceivingCurrency: got.ReceivingCurrency.Code,
		InvoiceUUID: got.InvoiceUUID, V0: version.Major == 0,
	}
	fmt.Println(uma.FormatAmount(req.Amount, got.ReceivingCurrency.Decimals), req.ReceivingCurrency, "to", got.Callback)
	// Output:
	// uma://uma1
	// 12.50 USD to https://vasp2.com/api/uma/payreq/bob
}
