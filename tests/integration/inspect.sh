#!/bin/bash
# inspect: lists a stream and rejects malformed ones with the offset.
. "$(dirname "$0")/lib.sh"

"$VFIO_MIG" save -q --device local:testdev,size=3M,seed=1 -o "$TMP/s.vfm" >/dev/null
expect_exit 0 "inspect a saved stream" "$VFIO_MIG" inspect "$TMP/s.vfm"
last_out | grep -q 'section START id 1 "vfio" instance 0 version 1' && ok "START section listed" || nok "START section"
last_out | grep -q 'DEV_SETUP_STATE' && ok "SETUP marker listed" || nok "SETUP marker"
last_out | grep -q 'DEV_DATA_STATE 1048576 bytes' && ok "1 MiB blocks" || nok "block size"
last_out | grep -q 'EOF$' && ok "EOF listed" || nok "EOF"
last_out | grep -q '^stream: .* 1 device(s), well-formed$' && ok "summary line" || nok "summary"

size=$(stat -c %s "$TMP/s.vfm")
head -c $((size - 1)) "$TMP/s.vfm" >"$TMP/cut.vfm"
expect_exit 1 "a cut stream is rejected" "$VFIO_MIG" inspect "$TMP/cut.vfm"
grep -q "offset $((size - 1)): stream ends, expected a record type or EOF" "$TMP/last.err" &&
	ok "cut named at its offset" || nok "cut offset message: $(last_err)"

cp "$TMP/s.vfm" "$TMP/bad.vfm"
printf '\x42' | dd of="$TMP/bad.vfm" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_exit 1 "a bad section type is rejected" "$VFIO_MIG" inspect "$TMP/bad.vfm"
grep -q "offset 8: expected a record type (0x00..0x04, 0x07, 0x08), got 0x42" "$TMP/last.err" &&
	ok "bad section type named" || nok "bad type message: $(last_err)"

cp "$TMP/s.vfm" "$TMP/bad.vfm"
printf 'XEVM' | dd of="$TMP/bad.vfm" bs=1 seek=0 conv=notrunc 2>/dev/null
expect_exit 1 "a bad magic is rejected" "$VFIO_MIG" inspect "$TMP/bad.vfm"
grep -q "offset 0: expected file magic" "$TMP/last.err" && ok "bad magic named" || nok "bad magic"

# A data block claiming 2^63 bytes.
off=$(last_out >/dev/null; "$VFIO_MIG" inspect "$TMP/s.vfm" | awk '/DEV_DATA_STATE/ {print $1; exit}')
cp "$TMP/s.vfm" "$TMP/big.vfm"
printf '\x80\x00\x00\x00\x00\x00\x00\x00' | dd of="$TMP/big.vfm" bs=1 seek=$((off + 8)) conv=notrunc 2>/dev/null
expect_exit 1 "an absurd block size is rejected" "$VFIO_MIG" inspect "$TMP/big.vfm"
grep -q "offset $((off + 8)): data block of 9223372036854775808 bytes exceeds the limit" "$TMP/last.err" &&
	ok "absurd size named" || nok "absurd size message: $(last_err)"
expect_exit 1 "load refuses the absurd block too" "$VFIO_MIG" load -q --device local:testdev,size=3M -i "$TMP/big.vfm"

expect_exit 1 "inspect a missing file" "$VFIO_MIG" inspect "$TMP/none.vfm"
expect_exit 0 "inspect --summary" "$VFIO_MIG" inspect --summary "$TMP/s.vfm"
last_out | grep -q '^device 0: "vfio" instance 0: 2 sections, 4 data blocks' && ok "summary counts" || nok "summary counts: $(last_out)"

done_testing
