//! The affinity client library's hot path: choosing an endpoint and recording the outcome, at
//! 10, 100 and 1,000 endpoints in three AZs (target: at most 1 µs per request, no allocation).
//! Criterion measures the time; a counting allocator checks the allocations and prints them.

// A global allocator has to implement the unsafe `GlobalAlloc`; it only counts and delegates.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use affinity_client::{Balancer, Config, Endpoint, FailureKind, Outcome};
use azsim_kernel::SimRng;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn balancer(n: usize) -> Balancer {
    let mut b = Balancer::new(Config::new(Some("use1-az1")));
    let endpoints = (0..n)
        .map(|i| Endpoint::new(format!("e{i}"), format!("10.0.{}.{}:80", i / 250, i % 250).parse().unwrap(), format!("use1-az{}", i % 3 + 1), "us-east-1"))
        .collect();
    b.set_endpoints(tokio::time::Instant::now(), endpoints); // determinism: ok (a bench's reference point)
    b
}

/// One request: pick, then record; every 50th fails (so outlier counters and the breaker work).
fn one(b: &mut Balancer, rng: &mut SimRng, t: tokio::time::Instant, i: u64) {
    let pick = b.pick(t, rng, None).expect("endpoints");
    let outcome = if i.is_multiple_of(50) { Outcome::Failure(FailureKind::Status(503)) } else { Outcome::Success };
    b.record(t, pick, outcome);
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("affinity pick + record");
    for n in [10usize, 100, 1000] {
        let mut b = balancer(n);
        let mut rng = SimRng::from_seed(1);
        let t = tokio::time::Instant::now(); // determinism: ok (a bench's reference point)
        let mut i = 0u64;
        // Allocations over 100,000 requests after warm-up.
        for _ in 0..1000 {
            i += 1;
            one(&mut b, &mut rng, t, i);
        }
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..100_000 {
            i += 1;
            one(&mut b, &mut rng, t + Duration::from_nanos(i), i);
        }
        let allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!("{n} endpoints: {allocs} allocations in 100,000 requests");
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            bench.iter(|| {
                i += 1;
                one(&mut b, &mut rng, t, black_box(i));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
