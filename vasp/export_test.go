package vasp

import "context"

// Test hooks into the post-transaction callback sender.

// CallbackRound claims the callbacks due and sends them.
func (s *Service) CallbackRound(ctx context.Context) (int, error) { return s.callbackRound(ctx) }

// InsertTransaction records t as is.
func (s *Service) InsertTransaction(ctx context.Context, t Transaction) error {
	return insertTransaction(ctx, s.db, t, "")
}

// CallbackState is t's callback state and attempts.
func (s *Service) CallbackState(ctx context.Context, id string) (state string, attempts int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT callback_state, callback_attempts FROM uma_transactions WHERE id = $1`, id).Scan(&state, &attempts)
	return state, attempts, err
}
