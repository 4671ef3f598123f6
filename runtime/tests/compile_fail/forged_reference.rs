//! References forged from raw bits or an address, without `unsafe`.
use runtime::{RawValue, Value};

fn main() {
    let forged: Value<'_> = Value::from_raw(RawValue::from_bits(0xfffc_0000_0000_0010));
    let _ = forged.as_object().map(|o| o.slot(0));
    let _ = gc::ObjRef::from_addr(0x10).slot_count();
    let _ = RawValue::from_bits(0xfffc_0000_0000_0010).as_object();
}
