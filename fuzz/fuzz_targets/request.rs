#![no_main]

use libfuzzer_sys::fuzz_target;

// The daemon's request decoder: any line must give a request or a typed
// error, never a panic, and an accepted request must encode and decode back
// to itself.
fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok((id, request)) = coffer_proto::envelope::RawRequest::decode(line) {
        let env = coffer_proto::RequestEnvelope { id, request };
        let text = serde_json::to_string(&env).expect("a decoded request encodes");
        let (id2, again) = coffer_proto::envelope::RawRequest::decode(&text).expect("and decodes back");
        assert_eq!(id2, id);
        assert_eq!(again, env.request);
    }
});
