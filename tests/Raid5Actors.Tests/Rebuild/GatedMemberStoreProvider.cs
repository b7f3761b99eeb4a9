using Raid5Actors.Disks;

namespace Raid5Actors.Tests.Rebuild;

/// <summary>What a <see cref="GatedMemberStoreProvider"/> can hold on a device.</summary>
internal enum GatedOperation
{
    Write,
    Flush,
}

/// <summary>
/// Member stores that a spec can stop on one device and one kind of operation, so that a piece of
/// member I/O is known to be in flight (its disk actor blocked in it) while the spec does something
/// else: stop the array, remove the device. Everything else passes straight to the inner stores.
/// </summary>
internal sealed class GatedMemberStoreProvider(IMemberStoreProvider inner) : IMemberStoreProvider
{
    // A held operation gives up after this, so a spec that forgets to release cannot hang the run.
    private static readonly TimeSpan kHoldLimit = TimeSpan.FromSeconds(30);

    private readonly object _lock = new();
    private Hold? _hold;

    public string Describe(int role) => inner.Describe(role);

    public bool Exists(int role) => inner.Exists(role);

    public IMemberStore Create(int role, long lengthBytes) => new GatedStore(inner.Create(role, lengthBytes), role, this);

    public IMemberStore Open(int role) => new GatedStore(inner.Open(role), role, this);

    /// <summary>From now on, <paramref name="operation"/>s on <paramref name="device"/> block until <see cref="Release"/>; the task completes when the first one is blocked.</summary>
    public Task HoldAsync(int device, GatedOperation operation)
    {
        lock (_lock)
        {
            if (_hold is not null)
                throw new InvalidOperationException("one hold at a time");
            _hold = new Hold(device, operation);
            return _hold.Entered.Task;
        }
    }

    /// <summary>
    /// Lets every held operation go on, and no longer holds new ones. The task completes once the
    /// first held operation has returned to its disk actor (which answers right after).
    /// </summary>
    public Task Release()
    {
        Hold? hold;
        lock (_lock)
        {
            hold = _hold;
            _hold = null;
        }
        hold?.Open.Set();
        return hold?.Left.Task ?? Task.CompletedTask;
    }

    private Hold? Pass(int device, GatedOperation operation)
    {
        Hold? hold;
        lock (_lock)
            hold = _hold is { } h && h.Device == device && h.Operation == operation ? h : null;
        if (hold is null)
            return null;
        hold.Entered.TrySetResult();
        if (!hold.Open.Wait(kHoldLimit))
            throw new IOException($"device {device}: {operation} held for more than {kHoldLimit} (the spec never released it)");
        return hold;
    }

    private sealed class Hold(int device, GatedOperation operation)
    {
        public int Device { get; } = device;

        public GatedOperation Operation { get; } = operation;

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ManualResetEventSlim Open { get; } = new();

        public TaskCompletionSource Left { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class GatedStore(IMemberStore store, int device, GatedMemberStoreProvider owner) : IMemberStore
    {
        public string Name => store.Name;

        public long LengthBytes => store.LengthBytes;

        public void Read(long offsetBytes, Span<byte> destination) => store.Read(offsetBytes, destination);

        public void Write(long offsetBytes, ReadOnlySpan<byte> source)
        {
            var hold = owner.Pass(device, GatedOperation.Write);
            try
            {
                store.Write(offsetBytes, source);
            }
            finally
            {
                hold?.Left.TrySetResult();
            }
        }

        public void Flush()
        {
            var hold = owner.Pass(device, GatedOperation.Flush);
            try
            {
                store.Flush();
            }
            finally
            {
                hold?.Left.TrySetResult();
            }
        }

        public void Dispose() => store.Dispose();
    }
}
