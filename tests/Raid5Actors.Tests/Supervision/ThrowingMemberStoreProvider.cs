using Raid5Actors.Disks;

namespace Raid5Actors.Tests.Supervision;

/// <summary>
/// Memory members whose stores can be told to throw an exception a member disk actor does not
/// catch (<see cref="InvalidOperationException"/>, a bug rather than an I/O error), so that the
/// actor crashes. Faults apply to the data area only (at or past <c>DataOffsetBytes</c>), so
/// superblock writes pass unless <see cref="ThrowOnEverything"/> is set. Settable from the test
/// thread while member actors run: counters are interlocked, flags volatile.
/// </summary>
internal sealed class ThrowingMemberStoreProvider(long dataOffsetBytes) : IMemberStoreProvider
{
    private readonly MemoryMemberStoreProvider _inner = new();
    private readonly Dictionary<int, Faults> _faults = [];

    public MemoryMemberStoreProvider Inner => _inner;

    public string Describe(int role) => _inner.Describe(role);

    public bool Exists(int role) => _inner.Exists(role);

    public IMemberStore Create(int role, long lengthBytes) => Wrap(role, _inner.Create(role, lengthBytes));

    public IMemberStore Open(int role) => Wrap(role, _inner.Open(role));

    /// <summary>The next <paramref name="count"/> data writes to <paramref name="role"/> throw.</summary>
    public void ThrowOnNextDataWrites(int role, int count) => Interlocked.Exchange(ref FaultsOf(role).WritesToFail, count);

    /// <summary>The next <paramref name="count"/> data reads from <paramref name="role"/> throw.</summary>
    public void ThrowOnNextDataReads(int role, int count) => Interlocked.Exchange(ref FaultsOf(role).ReadsToFail, count);

    /// <summary>Every operation on <paramref name="role"/> throws from now on: reads, writes, flushes, superblocks.</summary>
    public void ThrowOnEverything(int role) => Volatile.Write(ref FaultsOf(role).Everything, true);

    public int Thrown(int role) => Volatile.Read(ref FaultsOf(role).Thrown);

    private Faults FaultsOf(int role)
    {
        lock (_faults)
        {
            if (!_faults.TryGetValue(role, out var faults))
                _faults[role] = faults = new Faults();
            return faults;
        }
    }

    private IMemberStore Wrap(int role, IMemberStore store) => new ThrowingStore(store, FaultsOf(role), dataOffsetBytes);

    private sealed class Faults
    {
        public int WritesToFail;
        public int ReadsToFail;
        public bool Everything;
        public int Thrown;
    }

    private sealed class ThrowingStore(IMemberStore inner, Faults faults, long dataOffsetBytes) : IMemberStore
    {
        public string Name => inner.Name;

        public long LengthBytes => inner.LengthBytes;

        public void Read(long offsetBytes, Span<byte> destination)
        {
            if (ShouldThrow(offsetBytes, ref faults.ReadsToFail))
                throw Injected("read", offsetBytes);
            inner.Read(offsetBytes, destination);
        }

        public void Write(long offsetBytes, ReadOnlySpan<byte> source)
        {
            if (ShouldThrow(offsetBytes, ref faults.WritesToFail))
                throw Injected("write", offsetBytes);
            inner.Write(offsetBytes, source);
        }

        public void Flush()
        {
            if (Volatile.Read(ref faults.Everything))
                throw Injected("flush", 0);
            inner.Flush();
        }

        public void Dispose() => inner.Dispose();

        private bool ShouldThrow(long offsetBytes, ref int remaining)
        {
            if (Volatile.Read(ref faults.Everything))
                return true;
            if (offsetBytes < dataOffsetBytes)
                return false;
            // Take one from the budget if any is left.
            var left = Volatile.Read(ref remaining);
            while (left > 0)
            {
                var seen = Interlocked.CompareExchange(ref remaining, left - 1, left);
                if (seen == left)
                    return true;
                left = seen;
            }
            return false;
        }

        private InvalidOperationException Injected(string operation, long offsetBytes)
        {
            Interlocked.Increment(ref faults.Thrown);
            return new InvalidOperationException($"{inner.Name}: {operation} at {offsetBytes} (injected non-I/O failure)");
        }
    }
}
