use std::time::Instant;
use deployflow::events::RawLog;
fn main() {
    let root = std::path::PathBuf::from("target/exp"); let _ = std::fs::remove_dir_all(&root);
    let n = 56_000u64; let per = 56u64;
    for variant in [0,1,2,3,0,1,2,3] {
        let dir = root.join(format!("v{variant}-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()));
        let log = RawLog::open(&dir).unwrap();
        let t = log.sled().open_tree("a").unwrap();
        let v = vec![1u8; 220];
        let s = Instant::now();
        let mut i = 0u64;
        while i < n {
            let mut b = sled::Batch::default();
            match variant {
                0 => for j in i..i+per { b.insert(&j.to_be_bytes(), v.as_slice()); },
                1 => for j in i..i+per { b.insert(&j.to_be_bytes(), v.as_slice()); let mut k = [0xffu8;25]; k[17..].copy_from_slice(&j.to_be_bytes()); b.insert(&k, &j.to_be_bytes()); },
                2 => { b.insert(&i.to_be_bytes(), vec![1u8; 220 * per as usize]); for j in i..i+per { let mut k = [0xffu8;25]; k[17..].copy_from_slice(&j.to_be_bytes()); b.insert(&k, &j.to_be_bytes()); } },
                _ => { b.insert(&i.to_be_bytes(), vec![1u8; 220 * per as usize]); },
            }
            t.apply_batch(b).unwrap();
            log.sled().flush().unwrap();
            i += per;
        }
        println!("variant {variant}: {:.0}/s", n as f64 / s.elapsed().as_secs_f64());
    }
}
