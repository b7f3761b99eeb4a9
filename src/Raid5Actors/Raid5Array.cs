using Akka.Actor;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Buffers;
using Raid5Actors.Configuration;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Logging;
using Raid5Actors.Persistence;
using Raid5Actors.Stripes;
using Raid5Actors.Sync;
using static Raid5Actors.Arrays.ArrayProtocol;

namespace Raid5Actors;

/// <summary>How to run an array. Every property is optional.</summary>
public sealed record Raid5ArrayOptions
{
    /// <summary>Where the members live. Default: files <c>member-NN.img</c> in the array folder.</summary>
    public IMemberStoreProvider? Members { get; init; }

    /// <summary>HOCON overrides (<c>raid5 { ... }</c>, <c>akka { ... }</c>); hocon/reference.conf is the fallback.</summary>
    public Config? Config { get; init; }

    /// <summary>Name of the array actor and of its journal plugins; a plain word.</summary>
    public string Name { get; init; } = "raid5";

    /// <summary>Open even when a member is missing or unusable: it is marked faulty and the array runs degraded (md's --run).</summary>
    public bool AllowDegraded { get; init; }

    /// <summary>
    /// Also open an array that is dirty and degraded at once (md's start_dirty_degraded): rows being
    /// written at the crash may be wrong where they fall on the missing member.
    /// </summary>
    public bool Force { get; init; }
}

/// <summary>
/// A RAID5 array as an ordinary async object: create or open it from a folder, then read, write,
/// flush, ask its status, and dispose it to stop it cleanly. Offsets and lengths are bytes of the
/// logical device, in multiples of 512. No knowledge of actors is needed; an application that
/// already runs an ActorSystem can host the array there instead (<see cref="Hosting.Raid5HostingExtensions"/>)
/// and wrap the actor with <see cref="AttachAsync"/>.
/// </summary>
public sealed class Raid5Array : IBlockDevice, IAsyncDisposable
{
    // Akka's own stdout logger only speaks after the Serilog logger has stopped (at shutdown).
    private static readonly Config s_ownSystemConfig = ConfigurationFactory.ParseString("akka.stdout-loglevel = WARNING");

    private readonly ActorSystem _system;
    private readonly bool _ownsSystem;
    private readonly IActorRef _array;
    private readonly Raid5Settings _settings;
    private readonly string? _databasePath;
    private readonly SemaphoreSlim _admission;
    private readonly Task _arrayStopped;
    private IMemberStoreProvider? _provider;
    private int _disposed;

    private Raid5Array(
        ActorSystem system, bool ownsSystem, IActorRef array, Raid5Settings settings, ArrayMetadata metadata, string? databasePath)
    {
        _system = system;
        _ownsSystem = ownsSystem;
        _array = array;
        _settings = settings;
        _databasePath = databasePath;
        Metadata = metadata;
        Geometry = metadata.Geometry;
        _arrayStopped = array.WatchAsync();
        // Admission bounds every queue inside the array: callers beyond it wait here, asynchronously.
        _admission = new SemaphoreSlim(settings.MaxRequestsInFlight, settings.MaxRequestsInFlight);
    }

    public ArrayMetadata Metadata { get; }

    public ArrayGeometry Geometry { get; }

    public long CapacityBytes => Geometry.CapacityBytes;

    public bool IsReadOnly => false;

    /// <summary>The array actor, for applications that talk to it with messages (<see cref="ArrayProtocol"/>).</summary>
    public IActorRef Actor => _array;

    /// <summary>
    /// Creates an array in <paramref name="folder"/>. Refused, with nothing written, for an invalid
    /// geometry, a folder that already holds an array, or members that exist, differ in size, or belong elsewhere.
    /// </summary>
    public static Task<Raid5Array> CreateAsync(string folder, Raid5CreateOptions create, Raid5ArrayOptions? options = null) =>
        StartAsync(folder, create, options ?? new Raid5ArrayOptions());

    /// <summary>
    /// Opens the array in <paramref name="folder"/> (its journal and members). Refused when a member is
    /// missing, belongs to another array, is stale, or is smaller than the array needs.
    /// </summary>
    public static Task<Raid5Array> OpenAsync(string folder, Raid5ArrayOptions? options = null) =>
        StartAsync(folder, create: null, options ?? new Raid5ArrayOptions());

    /// <summary>
    /// Wraps an array actor started elsewhere (e.g. by Akka.Hosting) once it is ready. Pass the
    /// member provider the array runs on to be able to <see cref="AddMemberAsync"/>.
    /// </summary>
    public static async Task<Raid5Array> AttachAsync(ActorSystem system, IActorRef arrayActor, IMemberStoreProvider? members = null)
    {
        var settings = Raid5Settings.Create(system.Settings.Config);
        var metadata = await WaitReady(arrayActor, settings).ConfigureAwait(false);
        return new Raid5Array(system, ownsSystem: false, arrayActor, settings, metadata, databasePath: null) { _provider = members };
    }

    public async Task ReadAsync(long offsetBytes, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ThrowIfBadRange(offsetBytes, destination.Length);
        if (destination.IsEmpty)
            return;
        var reply = await RequestAsync(new Read(offsetBytes, destination.Length), cancellationToken).ConfigureAwait(false);
        using var data = ((ReadCompleted)reply).Data;
        data.Span.CopyTo(destination.Span);
    }

    /// <summary>Writes <paramref name="source"/> (copied: the caller may reuse it once this returns). With <paramref name="fua"/>, durable on return.</summary>
    public async Task WriteAsync(long offsetBytes, ReadOnlyMemory<byte> source, bool fua = false, CancellationToken cancellationToken = default)
    {
        ThrowIfBadRange(offsetBytes, source.Length);
        if (source.IsEmpty)
            return;
        await RequestAsync(new Write(offsetBytes, PooledBuffer.CopyOf(source.Span), fua), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Makes every write that completed before this call durable on every member.</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => RequestAsync(Flush.Instance, cancellationToken);

    public Task<ArrayStatus> GetStatusAsync(CancellationToken cancellationToken = default) =>
        _array.Ask<ArrayStatus>(GetStatus.Instance, _settings.RequestTimeout, cancellationToken);

    /// <summary>Marks a member failed (mdadm --fail): the array goes on degraded, and recovers onto a spare if it has one.</summary>
    public async Task<MembersChanged> FailMemberAsync(int role) => (MembersChanged)await RequestAsync(new FailMember(role), default).ConfigureAwait(false);

    /// <summary>Takes a faulty member out of its role (mdadm --remove); its device is closed.</summary>
    public async Task<MembersChanged> RemoveMemberAsync(int role) => (MembersChanged)await RequestAsync(new RemoveMember(role), default).ConfigureAwait(false);

    /// <summary>
    /// Adds a device (mdadm --add). Without <paramref name="device"/>, a new blank device of the
    /// members' size is created at the next free index and becomes a spare (recovery onto it starts
    /// if a role is missing). With the index of a device that was a member and came back, it is
    /// re-added: only the regions written while it was away are rebuilt, when its event count allows.
    /// </summary>
    public async Task<MembersChanged> AddMemberAsync(int? device = null)
    {
        var provider = _provider ?? throw new InvalidOperationException("this array was attached without its member provider; add members through ArrayProtocol.AddMember");
        var metadata = (ArrayMetadata)await RequestAsync(GetMetadata.Instance, default).ConfigureAwait(false);
        if (device is { } given && (given is < 0 or >= ArrayAssembly.kMaxDevices || !provider.Exists(given)))
            throw new Raid5Exception(given is < 0 or >= ArrayAssembly.kMaxDevices
                ? $"device {given} does not exist: devices are numbered 0 to {ArrayAssembly.kMaxDevices - 1}"
                : $"device {given} ({provider.Describe(given)}) does not exist; to add a new blank device, give no device number");
        var index = device ?? FreeDevice(metadata, provider);
        var opened = ArrayAssembly.OpenForAdd(provider, index, metadata.DataOffsetBytes + metadata.MemberDataBytes);
        return (MembersChanged)await RequestAsync(new AddMember(opened), default).ConfigureAwait(false);
    }

    // The next index after every device the array uses, else the lowest index that neither the array nor a file uses.
    private static int FreeDevice(ArrayMetadata metadata, IMemberStoreProvider provider)
    {
        var used = metadata.Slots.Select(s => s.Device).Concat(metadata.Spares).ToHashSet();
        var candidates = Enumerable.Range(metadata.NextDevice, Math.Max(0, ArrayAssembly.kMaxDevices - metadata.NextDevice))
            .Concat(Enumerable.Range(0, ArrayAssembly.kMaxDevices));
        foreach (var candidate in candidates)
        {
            if (!used.Contains(candidate) && !provider.Exists(candidate))
                return candidate;
        }
        throw new Raid5Exception($"all {ArrayAssembly.kMaxDevices} device numbers are taken by members, spares or old member files; remove an old member file first");
    }

    /// <summary>Starts a check (count rows whose parity mismatches) or a repair (also rewrite it); see <see cref="WaitForSyncAsync"/>.</summary>
    public async Task<SyncStatus> StartSyncAsync(SyncKind kind) => ((SyncStarted)await RequestAsync(new StartSync(kind), default).ConfigureAwait(false)).Status;

    /// <summary>Waits until no resync, recovery, check or repair runs; returns the last pass and why it stopped, if it did.</summary>
    public async Task<SyncIdle> WaitForSyncAsync(TimeSpan timeout) =>
        await _array.Ask<SyncIdle>(WaitForSync.Instance, timeout).ConfigureAwait(false);

    /// <summary>Stops cleanly: finishes requests, flushes members, clears idle bitmap bits; then stops the actor system if it owns it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        try
        {
            var stop = _array.Ask<Stopped>(ArrayProtocol.Stop.Instance, _settings.RequestTimeout * 2);
            await Task.WhenAny(stop, _arrayStopped).ConfigureAwait(false);
            _ = stop.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        }
        catch (AskTimeoutException)
        {
            // Already stopped (it answered nobody) or stuck: the system shutdown below ends it anyway.
        }
        finally
        {
            if (_ownsSystem)
                await _system.Terminate().ConfigureAwait(false);
            if (_databasePath is not null)
                SqlitePersistence.ReleaseDatabase(_databasePath);
            _admission.Dispose();
        }
    }

    private async Task<object> RequestAsync(object request, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _admission.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            object reply;
            try
            {
                var ask = _array.Ask<object>(request, _settings.RequestTimeout, cancellationToken);
                if (await Task.WhenAny(ask, _arrayStopped).ConfigureAwait(false) != ask)
                {
                    _ = ask.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                    throw new Raid5Exception("the array actor stopped (see the log for why); open the array again");
                }
                reply = await ask.ConfigureAwait(false);
            }
            catch (AskTimeoutException e)
            {
                throw new TimeoutException($"the array did not answer within {_settings.RequestTimeout} (raid5.request-timeout)", e);
            }
            return reply is RequestFailed failed ? throw failed.Error : reply;
        }
        finally
        {
            _admission.Release();
        }
    }

    private void ThrowIfBadRange(long offsetBytes, int lengthBytes)
    {
        var error = IoRange.Check(offsetBytes, lengthBytes, CapacityBytes, _settings.MaxRequestBytes);
        if (error is not null)
            throw error;
    }

    private static async Task<Raid5Array> StartAsync(string folder, Raid5CreateOptions? create, Raid5ArrayOptions options)
    {
        var settings = Raid5Settings.Create(options.Config);
        var databasePath = Raid5ArrayConfig.DatabasePath(folder, settings);
        var provider = options.Members ?? new FileMemberStoreProvider(folder);
        // Before anything is read or written: a second writer is refused here, naming the first.
        var folderLock = ArrayFolderLock.Acquire(folder, create: create is not null, databasePath);
        void ReleaseLock() => folderLock.Release(leaveNothing: !File.Exists(databasePath));
        ArrayActorSetup setup;
        try
        {
            if (create is not null)
            {
                var (metadata, members) = ArrayAssembly.Create(folder, databasePath, provider, create, settings);
                setup = Setup(settings, members, metadata, options.Name, folder, provider);
            }
            else
            {
                setup = Setup(settings, ArrayAssembly.Open(folder, databasePath, provider), null, options.Name, folder, provider) with
                {
                    AllowDegraded = options.AllowDegraded,
                    Force = options.Force,
                };
            }
        }
        catch
        {
            ReleaseLock();
            throw;
        }

        var config = (options.Config ?? Config.Empty)
            .WithFallback(s_ownSystemConfig)
            .WithFallback(Raid5Logging.LoggerConfig)
            .WithFallback(Raid5ArrayConfig.For(databasePath, options.Name));
        ActorSystem? system = null;
        try
        {
            SqlitePersistence.PrepareDatabase(databasePath);
            system = ActorSystem.Create("raid5", config);
            var actor = await ArrayGuardian.StartAsync(system, ArrayActor.Props(setup), options.Name, settings.RequestTimeout).ConfigureAwait(false);
            var metadata = await WaitReady(actor, settings).ConfigureAwait(false);
            // The lock lives as long as the system holding the array, as a process's locks end with it.
            system.RegisterOnTermination(folderLock.Dispose);
            return new Raid5Array(system, ownsSystem: true, actor, settings, metadata, databasePath) { _provider = provider };
        }
        catch
        {
            if (system is not null)
                await system.Terminate().ConfigureAwait(false);
            SqlitePersistence.ReleaseDatabase(databasePath);
            if (create is not null)
                RemoveCreated(databasePath, provider, create);
            ReleaseLock();
            throw;
        }
    }

    // A create that failed after formatting leaves nothing behind that a retry would trip over.
    private static void RemoveCreated(string databasePath, IMemberStoreProvider provider, Raid5CreateOptions create)
    {
        File.Delete(databasePath);
        if (create.MemberBytes <= 0 || provider is not FileMemberStoreProvider files)
            return;
        for (var device = 0; device < create.Members + create.Spares; device++)
            File.Delete(files.PathOf(device));
    }

    internal static ArrayActorSetup Setup(
        Raid5Settings settings, IReadOnlyList<OpenedMember> devices, ArrayMetadata? create, string name, string folder, IMemberStoreProvider provider) =>
        new(settings, devices, create, Raid5ArrayConfig.JournalPluginId(name), Raid5ArrayConfig.SnapshotPluginId(name), Path.GetFullPath(folder), provider.Describe);

    private static async Task<ArrayMetadata> WaitReady(IActorRef actor, Raid5Settings settings)
    {
        var reply = await actor.Ask<object>(WaitUntilReady.Instance, settings.RequestTimeout).ConfigureAwait(false);
        return reply switch
        {
            ArrayReady ready => ready.Metadata,
            ArrayOpenFailed failed => throw failed.Error,
            _ => throw new InvalidOperationException($"unexpected answer {reply}"),
        };
    }
}
