package webhook

import "time"

// exampleIncoming is the INCOMING_PAYMENT of the published test vectors
// (docs/webhooks.md): a PENDING payment of 500.00 USD asking for the
// receiver's nationality.
func exampleIncoming() *IncomingPaymentWebhook {
	return &IncomingPaymentWebhook{
		Transaction: IncomingTransaction{
			Transaction: Transaction{
				ID:                 "Transaction:01a2020d-f8f0-7a11-9b3c-2e4d6f8a0b12",
				Status:             StatusPending,
				Type:               TransactionIncoming,
				SenderUmaAddress:   "$alice@sender.example",
				ReceiverUmaAddress: "$bob@vasp.example",
				UserID:             "User:01a1f5c2-0a00-7d4e-8c21-0f1e2d3c4b5a",
				PlatformUserID:     "bob-42",
				CreatedAt:          time.Date(2026, 11, 22, 6, 59, 58, 0, time.UTC),
				CounterpartyInformation: map[string]any{
					"FULL_NAME": "Alice Sender",
				},
			},
			ReceivedAmount: CurrencyAmount{
				Amount:   50000,
				Currency: Currency{Code: "USD", Name: "United States Dollar", Symbol: "$", Decimals: 2},
			},
			ReconciliationInstructions: &ReconciliationInstructions{Reference: "REF-7Q2M9X"},
		},
		RequestedReceiverUserInfoFields: []CounterpartyFieldDefinition{
			{Name: FieldNationality, Mandatory: true},
		},
		BaseWebhook: BaseWebhook{
			Timestamp: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC),
			WebhookID: "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a02",
		},
	}
}
