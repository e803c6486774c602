//! What a plugin may use while it runs: nothing but memory and a little time.

use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// Caps on what one plugin operation may use.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory a plugin instance may use, summed over every memory of every core
    /// instance in its store (a component with many memories cannot multiply it).
    pub memory_bytes: usize,
    /// Core instances a plugin's store may create (a Rust plugin needs a handful).
    pub max_instances: usize,
    /// Linear memories a plugin's store may create.
    pub max_memories: usize,
    /// Tables a plugin's store may create.
    pub max_tables: usize,
    /// Elements one table may grow to.
    pub max_table_elements: usize,
    /// Wall-clock time one call into the plugin may take.
    pub call_deadline: Duration,
    /// Requests one operation may make before it is stopped as a runaway.
    pub max_steps: usize,
    /// Largest request body a plugin may ask the host to send.
    pub max_request_bytes: usize,
    /// Largest response body the host reads and passes back to a plugin.
    pub max_response_bytes: usize,
    /// Plugin instances alive at once across the process (one per operation under way);
    /// the pooling allocator reserves this many slots up front.
    pub max_live_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            max_instances: 16,
            max_memories: 2,
            max_tables: 8,
            max_table_elements: 100_000,
            call_deadline: Duration::from_secs(2),
            max_steps: 50,
            max_request_bytes: 1 << 20,
            max_response_bytes: 16 << 20,
            max_live_instances: 1000,
        }
    }
}

/// Sets up `config` to allocate instances from a pool sized from `limits`: memories, tables,
/// instance metadata and async stacks are reserved once and reused, so an operation costs no
/// `mmap`/`munmap` and few page faults, and the pool is a hard cap on the process's total
/// plugin memory (`max_live_instances` × `max_memories` × `memory_bytes`).
///
/// Each memory slot reserves only `memory_bytes` of address space (plus a guard), not the
/// 4 GiB that lets compiled code skip bounds checks: plugins do little computing, and a
/// thousand 4 GiB reservations would be 4 TiB of address space.
pub fn configure_pool(config: &mut Config, limits: &Limits) {
    let live = limits.max_live_instances;
    let per_store = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(live)
        .total_core_instances(live.saturating_mul(per_store(limits.max_instances)))
        .max_core_instances_per_component(per_store(limits.max_instances))
        .total_memories(live.saturating_mul(per_store(limits.max_memories)))
        .max_memories_per_component(per_store(limits.max_memories))
        .max_memory_size(limits.memory_bytes)
        .total_tables(live.saturating_mul(per_store(limits.max_tables)))
        .table_elements(limits.max_table_elements)
        .total_stacks(live)
        // A slot handed back keeps its pages mapped; on Linux 6.7+ only the pages the last
        // operation dirtied are reset (PAGEMAP_SCAN), elsewhere they are zeroed in place:
        // both cheaper than unmapping them and faulting them in again for the next operation.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(64 << 10)
        .decommit_batch_size(32);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config.memory_reservation(limits.memory_bytes as u64);
    config.memory_reservation_for_growth(0);
}

/// How often the engine's epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Starts the thread that advances `engine`'s epoch every [`EPOCH_TICK`]; it ends when the
/// engine is dropped.
pub fn start_epoch_ticker(engine: &Engine) -> std::io::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("tenantctl-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(())
}

/// The host state of one plugin instance: an empty WASI context (no files, no network, no
/// environment, a clock stuck at zero), the resource caps and the current call's deadline.
pub struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
    /// Linear memory in use across every memory of the store.
    memory_in_use: usize,
    /// When the call under way started; the epoch callback stops it past the deadline.
    call_started: Instant,
    /// Set when the plugin asked for more memory than the cap allows, so a trap that follows
    /// can be explained.
    pub memory_denied: bool,
}

impl SandboxState {
    /// A fresh sandbox capped at `limits`.
    pub fn new(limits: &Limits) -> Self {
        let wasi = WasiCtx::builder()
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        SandboxState {
            wasi,
            table: ResourceTable::new(),
            limits: limits.clone(),
            memory_in_use: 0,
            call_started: Instant::now(),
            memory_denied: false,
        }
    }

    /// Starts the clock of a call (or of instantiation, which runs start functions).
    pub fn start_call(&mut self) {
        self.call_started = Instant::now();
    }

    /// True once the call under way has run past its deadline.
    pub fn past_deadline(&self) -> bool {
        self.call_started.elapsed() > self.limits.call_deadline
    }
}

impl ResourceLimiter for SandboxState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Called for every memory, at creation (current 0) and at each growth: the sum over
        // all of them is what the cap bounds.
        let total = self
            .memory_in_use
            .saturating_add(desired.saturating_sub(current));
        let allowed = total <= self.limits.memory_bytes;
        if allowed {
            self.memory_in_use = total;
        }
        self.memory_denied |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.limits.max_table_elements)
    }

    fn instances(&self) -> usize {
        self.limits.max_instances
    }

    fn memories(&self) -> usize {
        self.limits.max_memories
    }

    fn tables(&self) -> usize {
        self.limits.max_tables
    }
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A clock that never moves: plugins get the time from the host's `context.now`.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}
