//! The generated hierarchical classifier both benchmarks import: 3 levels (region `RR`,
//! district `RRDD`, locality `RRDDLLL`), names in uz-Latn, ru and en, in ascending code order,
//! and its CSV text produced as it is read.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use reestr_domain::classifier::{Code, Item};
use reestr_domain::text::Language;
use tokio::io::{AsyncRead, ReadBuf};

/// The code pattern of the generated classifier: region `RR`, district `RRDD`, locality
/// `RRDDLLL`.
pub const CODE_PATTERN: &str = "[0-9]{2}([0-9]{2}([0-9]{3})?)?";
/// Bytes of CSV generated at a time (the client sends 64 KiB per message).
const CSV_CHUNK: usize = 64 * 1024;

/// How many items each level has: up to 100 regions, up to 100 districts per region, the rest
/// localities spread evenly over the districts (99 per district for 1,000,000 items).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub regions: u32,
    pub districts: u32,
    pub localities: u32,
}

impl Shape {
    pub fn of(n: usize) -> Shape {
        let n = u32::try_from(n).expect("item count");
        assert!(n > 0, "at least one item");
        let regions = n.min(100);
        let districts = (n - regions).min(regions * 100);
        let localities = n - regions - districts;
        assert!(
            localities <= districts * 1000,
            "at most 10,010,100 items (3-digit localities)"
        );
        Shape {
            regions,
            districts,
            localities,
        }
    }

    pub fn districts_of(&self, region: u32) -> u32 {
        self.districts / self.regions + u32::from(region < self.districts % self.regions)
    }

    pub fn localities_of(&self, district: u32) -> u32 {
        self.localities / self.districts + u32::from(district < self.localities % self.districts)
    }

    pub fn total(&self) -> usize {
        (self.regions + self.districts + self.localities) as usize
    }
}

/// One generated item: code, parent, and names in uz-Latn, ru and en.
pub struct Row {
    pub code: String,
    pub parent: Option<String>,
    pub names: [String; 3],
}

#[derive(Clone, Copy)]
enum Stage {
    Region,
    District,
    Locality,
}

/// The items of a [`Shape`], depth first, which is ascending byte order of code.
pub struct Rows {
    shape: Shape,
    stage: Stage,
    region: u32,
    /// District within the region, and its index among all districts.
    district: u32,
    global_district: u32,
    locality: u32,
}

impl Rows {
    pub fn new(shape: Shape) -> Rows {
        Rows {
            shape,
            stage: Stage::Region,
            region: 0,
            district: 0,
            global_district: 0,
            locality: 0,
        }
    }
}

impl Iterator for Rows {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        loop {
            match self.stage {
                Stage::Region => {
                    if self.region == self.shape.regions {
                        return None;
                    }
                    let code = format!("{:02}", self.region);
                    self.stage = Stage::District;
                    self.district = 0;
                    return Some(Row {
                        names: [
                            format!("{code}-viloyat"),
                            format!("Область {code}"),
                            format!("Region {code}"),
                        ],
                        code,
                        parent: None,
                    });
                }
                Stage::District => {
                    if self.district == self.shape.districts_of(self.region) {
                        self.region += 1;
                        self.stage = Stage::Region;
                        continue;
                    }
                    let parent = format!("{:02}", self.region);
                    let code = format!("{parent}{:02}", self.district);
                    self.stage = Stage::Locality;
                    self.locality = 0;
                    return Some(Row {
                        names: [
                            format!("{code} tumani"),
                            format!("Район {code}"),
                            format!("District {code}"),
                        ],
                        code,
                        parent: Some(parent),
                    });
                }
                Stage::Locality => {
                    if self.locality == self.shape.localities_of(self.global_district) {
                        self.global_district += 1;
                        self.district += 1;
                        self.stage = Stage::District;
                        continue;
                    }
                    let parent = format!("{:02}{:02}", self.region, self.district);
                    let code = format!("{parent}{:03}", self.locality);
                    self.locality += 1;
                    return Some(Row {
                        names: [
                            format!("{code} aholi punkti"),
                            format!("Населённый пункт {code}"),
                            format!("Settlement {code}"),
                        ],
                        code,
                        parent: Some(parent),
                    });
                }
            }
        }
    }
}

impl Row {
    pub fn item(&self) -> Item {
        let mut item = Item::new(Code::from_trusted(self.code.clone()));
        item.parent = self.parent.clone().map(Code::from_trusted);
        item.names = BTreeMap::from([
            (Language::UzLatn, self.names[0].clone()),
            (Language::Ru, self.names[1].clone()),
            (Language::En, self.names[2].clone()),
        ]);
        item
    }

    pub fn csv(&self, out: &mut Vec<u8>) {
        let _ = std::io::Write::write_fmt(
            out,
            format_args!(
                "{},{},{},{},{}\n",
                self.code,
                self.parent.as_deref().unwrap_or(""),
                self.names[0],
                self.names[1],
                self.names[2]
            ),
        );
    }
}

/// The CSV text of the generated classifier, produced as it is read: never held whole.
pub struct CsvSource {
    rows: Rows,
    pending: Vec<u8>,
    at: usize,
    produced: Arc<AtomicU64>,
}

impl CsvSource {
    pub fn new(shape: Shape, produced: Arc<AtomicU64>) -> CsvSource {
        let mut pending = Vec::with_capacity(CSV_CHUNK + 256);
        pending.extend_from_slice(b"code,parent,name:uz-Latn,name:ru,name:en\n");
        CsvSource {
            rows: Rows::new(shape),
            pending,
            at: 0,
            produced,
        }
    }
}

impl AsyncRead for CsvSource {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        while buf.remaining() > 0 {
            if this.at == this.pending.len() {
                this.pending.clear();
                this.at = 0;
                while this.pending.len() < CSV_CHUNK {
                    match this.rows.next() {
                        Some(row) => row.csv(&mut this.pending),
                        None => break,
                    }
                }
                if this.pending.is_empty() {
                    break;
                }
                this.produced
                    .fetch_add(this.pending.len() as u64, Ordering::Relaxed);
            }
            let n = buf.remaining().min(this.pending.len() - this.at);
            buf.put_slice(&this.pending[this.at..this.at + n]);
            this.at += n;
        }
        Poll::Ready(Ok(()))
    }
}
