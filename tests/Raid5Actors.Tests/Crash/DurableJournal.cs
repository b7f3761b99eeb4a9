using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Raid5Actors.Arrays;
using Raid5Actors.Configuration;
using Raid5Actors.Persistence;
using Raid5Actors.Tests.Bitmap;

namespace Raid5Actors.Tests.Crash;

/// <summary>
/// Reads what an array's SQLite file durably holds (the bitmap bits, the array metadata) through
/// the engine's own plugin configuration but none of its actors. Use it only while no array runs on
/// the file: it sees the file as the next open will.
/// </summary>
public sealed class DurableJournal : IAsyncDisposable
{
    private static readonly TimeSpan kReadTimeout = TimeSpan.FromSeconds(30);

    private readonly ActorSystem _system;
    private readonly string _databasePath;
    private readonly string _journalId;
    private readonly string _snapshotId;

    public DurableJournal(string databasePath, string arrayName)
    {
        _databasePath = databasePath;
        _journalId = Raid5ArrayConfig.JournalPluginId(arrayName);
        _snapshotId = Raid5ArrayConfig.SnapshotPluginId(arrayName);
        var config = ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING")
            .WithFallback(Raid5ArrayConfig.For(databasePath, arrayName));
        _system = ActorSystem.Create("durable-journal", config);
    }

    /// <summary>The bitmap bits set in the journal (snapshot plus the events after it).</summary>
    public async Task<RecoveredBitmap> ReadBitmapAsync()
    {
        var inbox = Inbox.Create(_system);
        _system.ActorOf(BitmapJournalReader.Props(ArrayActor.kBitmapPersistenceId, _journalId, _snapshotId, inbox.Receiver));
        var answer = await inbox.ReceiveAsync(kReadTimeout);
        return answer as RecoveredBitmap ?? throw new InvalidOperationException($"bitmap journal reader answered {answer}");
    }

    /// <summary>The last array metadata recorded in the journal.</summary>
    public async Task<ArrayMetadata?> ReadMetadataAsync()
    {
        var inbox = Inbox.Create(_system);
        _system.ActorOf(ArrayMetadataReader.Props(_journalId, _snapshotId, inbox.Receiver));
        var answer = await inbox.ReceiveAsync(kReadTimeout);
        return answer is ArrayMetadataReader.Recovered recovered ? recovered.Metadata : throw new InvalidOperationException($"metadata reader answered {answer}");
    }

    public async ValueTask DisposeAsync()
    {
        await _system.Terminate();
        SqlitePersistence.ReleaseDatabase(_databasePath);
    }

    /// <summary>Replays the array actor's events and answers the last metadata recorded.</summary>
    private sealed class ArrayMetadataReader : UntypedPersistentActor
    {
        public sealed record Recovered(ArrayMetadata? Metadata);

        private readonly IActorRef _replyTo;
        private ArrayMetadata? _metadata;

        public ArrayMetadataReader(string journalPluginId, string snapshotPluginId, IActorRef replyTo)
        {
            JournalPluginId = journalPluginId;
            SnapshotPluginId = snapshotPluginId;
            _replyTo = replyTo;
        }

        public static Props Props(string journalPluginId, string snapshotPluginId, IActorRef replyTo) =>
            Akka.Actor.Props.Create(() => new ArrayMetadataReader(journalPluginId, snapshotPluginId, replyTo));

        public override string PersistenceId => ArrayActor.kArrayPersistenceId;

        protected override void OnRecover(object message)
        {
            switch (message)
            {
                case ArrayMetadataRecorded recorded:
                    _metadata = recorded.Metadata;
                    break;
                case RecoveryCompleted:
                    _replyTo.Tell(new Recovered(_metadata));
                    Context.Stop(Self);
                    break;
            }
        }

        protected override void OnCommand(object message) => Unhandled(message);
    }
}
