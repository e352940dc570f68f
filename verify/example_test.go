package verify_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookguard/hookguard/verify"
)

func ExampleStandard() {
	key, _ := verify.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	v, _ := verify.NewStandard(verify.Keyring{"partner": {key}}, 5*time.Minute, func() time.Time {
		return time.Unix(1614265330, 0)
	})
	body := []byte(`{"test": 2432232314}`)
	evs, err := v.Verify(&verify.Request{
		Header: http.Header{
			"Webhook-Id":        {"msg_p5jXN8AQM9LWM0D4loKWxJek"},
			"Webhook-Timestamp": {"1614265330"},
			"Webhook-Signature": {"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
		},
		Body: body,
	})
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println(evs[0].ID, evs[0].KeyID, evs[0].Time.Format(time.RFC3339))

	_, err = v.Verify(&verify.Request{
		Header: http.Header{
			"Webhook-Id":        {"msg_p5jXN8AQM9LWM0D4loKWxJek"},
			"Webhook-Timestamp": {"1614265330"},
			"Webhook-Signature": {"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
		},
		Body: []byte(`{"test": 1}`),
	})
	fmt.Println(errors.Is(err, verify.ErrSignatureMismatch))
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek partner 2021-02-25T15:02:10Z
	// true
}
